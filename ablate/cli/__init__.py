"""The command-line tools (`python -m ablate.describe`, `.budget`, `.report`): thin, every user error through
`common.user_errors` (one sentence, exit status 2)."""
