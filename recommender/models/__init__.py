"""The two PyTorch recommenders and the baselines they are judged against."""
