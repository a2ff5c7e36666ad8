"""The review page (make review): a local server, its static page, and the reviewer's edits."""
