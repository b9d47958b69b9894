"""Skein's fault harness: nodes in network namespaces, a seeded nemesis, real
client workloads recorded as a history, and a checker over that history."""
