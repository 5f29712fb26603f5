"""crdsync.devplane"""
