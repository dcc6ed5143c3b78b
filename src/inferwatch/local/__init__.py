"""Running everything on one machine: the local Prometheus and Alertmanager stack
(``stack``) and the guided demo (``demo``)."""
