"""`yolactedge benchmark`: one artifact timed end to end (decode, engines, post-processing, drawing)
on several backends. It drives the Python API, so it sits above ``api`` and ``deploy``."""
