"""Train a design and look inside it: excitation statistics, paper-style plots, and SE
removal tested by folding gates into constant scales."""
