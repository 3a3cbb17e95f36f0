"""The notebook API's parts, behind `study`'s public names (study/__init__.py): tables of
the trials and the validation (`tables`), the final fit read from `best/` (`final`),
figures returned as matplotlib Figures (`figures`), HTML summaries (`html`) and the
progress bar `study.run` shows in Jupyter (`progress`).

Everything here reads a study's records as they stand, and those records are data
that anyone with write access to the results folder may have filled: values shown
as HTML are escaped, unreadable records are skipped with a warning naming the file.
"""
