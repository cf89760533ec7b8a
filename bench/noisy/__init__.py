"""The search benchmark's parts: true accuracy landscapes (landscapes), the simulated
trainer and the Optuna-driven search of the noise-aware comparison (sim), the world a
procedure measures in (world), the procedures compared (procedures) and the comparison at
equal epochs with its metrics (bench). bench/noisy_search.py is the command."""
