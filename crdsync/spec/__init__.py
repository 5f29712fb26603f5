"""crdsync.spec"""
