"""`studioctl import`: the desired state of a live region, to adopt an estate.

read.py reads the region (and the mounted file systems' share directories, shares.py),
infer.py, share_docs.py and domains.py turn that into documents (pure), write.py renders
them as YAML with their comments.
"""
