"""``codeassist bench repo``: benchmark completions on the user's own repository, judged by its own tests.

Holes are cut into the repository's functions (``holes``), filled through the real language server over stdio the way
an editor asks (``lsp_fill``) or through a llama-server ``/infill`` with llama.vim-shaped requests (``infill_fill``),
spliced back and judged by the repository's tests in the sandbox (``judge``, which narrows each hole to the tests that
executed its function, from a one-off traced run, and caches verdicts by file content), and summarised (``report``).
``run`` ties them together, resumably. The user's tree is only ever read: the server sees a snapshot copy and the
tests run on in-memory file maps shipped to the sandbox.
"""
