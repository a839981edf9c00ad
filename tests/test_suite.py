"""The suite's own set-up: each pytest-xdist worker runs with its share of the cores, not all of them."""

import os

import pytest
import torch


def test_a_worker_and_what_it_starts_take_their_share_of_the_cores():
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("one process (-n 0): it has every core")
    share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    # The variable is what the notebooks' kernels and the commands the tests start inherit; a controller that set
    # it for itself (its share of one: all cores) handed every worker all the cores, and a run took three times as long.
    assert os.environ["OMP_NUM_THREADS"] == str(share)
    assert torch.get_num_threads() == share
