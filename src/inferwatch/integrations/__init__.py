"""Predictions made elsewhere, watched by inferwatch: the embedding API (``watcher``:
``Watcher``, public as ``inferwatch.Watcher``), the checks of logged predictions shared by
``POST /log`` and ``Watcher.log`` (``logged``), and the KServe inference logger's
CloudEvents (``kserve``). See docs/integrations.md."""
