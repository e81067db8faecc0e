"""Process-level helpers every layer may use (device choice, progress bars); depends on nothing else
in the package, so training, evaluation and deployment need not import the API layer."""
