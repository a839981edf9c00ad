"""What every part uses: the errors a run can end with, safe writes to disk, and TrainConfig.

- errors.py   DPRNBError, the one base of every error a user's run can end with (the command line prints its line)
- files.py    atomic writes and folder swaps, writability checks before work, the save_dir lock
- memory.py   how much memory this process may use (a container's cap included), to refuse what cannot fit
- messages.py the package's messages through logging (the "dpr_nb" logger), shown by the CLI and the notebooks
- config.py   TrainConfig, the one dataclass of training choices (each field's help in its metadata), presets
- old_names.py every name from before 0.3, each warning with its new name and the release that removes it
"""
