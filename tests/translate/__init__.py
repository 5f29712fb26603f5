"""Tests for crdsync.translate."""
