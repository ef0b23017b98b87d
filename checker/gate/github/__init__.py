"""The GitHub side of the gate: REST client, runner environment, the PR comment, publishing."""
