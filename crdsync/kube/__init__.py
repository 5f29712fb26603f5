"""crdsync.kube"""
