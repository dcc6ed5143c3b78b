"""The model's lifecycle: its directory (``modeldir``), bringing your own model in
(``bring``, ``inferwatch init``, with its ``options``, ``loaders`` and ``scoring``), a
log-only directory for predictions made elsewhere (``logonly``, ``init --no-model``), the
built-in examples (``examples``) and retraining (``retrain``)."""
