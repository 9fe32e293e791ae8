"""`python -m costmodel <command>`."""

from costmodel.cli import main

raise SystemExit(main())
