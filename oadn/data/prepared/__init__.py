"""Prepared caches: the parquet format ``prepare`` writes (:mod:`.cache`), the audit of what in a cache is still
good (:mod:`.audit`), and reading a prepared split back as faces (:mod:`.source`)."""
