"""The model's lifecycle: its directory (``modeldir``), bringing your own model in
(``bring``, ``inferwatch init``), the built-in examples (``examples``) and retraining
(``retrain``)."""
