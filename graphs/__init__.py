"""How things connect: the typed tool graph, plans (step DAGs) and workflow files."""
