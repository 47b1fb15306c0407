# Doctests of the package run with the tests; __main__ would run the command line on import.
collect_ignore = ["skdeepcluster/__main__.py", "doc", "examples", "benchmarks"]
