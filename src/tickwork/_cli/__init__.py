"""The parts of the command line (:mod:`tickwork.cli`): opening stores to read or to
write (:mod:`.stores`), what is printed and how (:mod:`.output`), and the subcommands
(:mod:`.reads`, :mod:`.health`, :mod:`.writes`)."""
