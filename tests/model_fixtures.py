"""Session fixtures for tiny detectors trained by the test session (filled in by the autolabel work)."""
