import os
import sys

# Tests import the package and the configs from the repository root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: takes more than ~20 s on 2 CPU cores')
