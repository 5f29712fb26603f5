"""crdsync.engine"""
