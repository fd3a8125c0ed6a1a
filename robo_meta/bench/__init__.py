"""Speed benchmarks behind ``robo-meta bench KIND`` (one module per kind, e.g. ``sim``).

Each kind module offers ``add_arguments(parser)`` and ``run(args) -> int`` for the CLI, and a
function returning the measured numbers for code. Numbers are ratios against references
measured in the same run, because the machines they run on are noisy; results and the command
that produced them go in docs/benchmarks.md. Kind modules are imported when the CLI parser is
built, so they import nothing heavy (torch) at module level; their flags' types come from
``robo_meta.argtypes`` (one per kind of number, with its range).
"""
