"""crdsync.translate"""
