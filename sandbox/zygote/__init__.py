"""The local sandbox's worker process (run by path, see ``__main__.py``); the wire format is ``framing``.

Start reading at worker.py. This package imports nothing from ``simpletir`` so that it runs from any
``sys.path``; ``simpletir.sandbox.local`` starts one such process per concurrent program.
"""
