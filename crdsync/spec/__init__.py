"""crdsync.spec: the mapping spec - its model, and loading it from YAML with located errors.

model (the frozen values everything consumes; owned by the lead), paths (JSONPath compiling and shape readings shared
with translate), source (YAML -> plain data + positions), schema (the JSON Schema and its explained errors), checks
(the semantic checks, one module per concern), build (data -> model), load (the public entry points: load_files,
load_text, LoadResult). The `crdsync validate` command is crdsync.commands.validate.
Nothing is imported here, so importing the model stays cheap.
"""
