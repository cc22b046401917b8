"""What each command does, as a function of a ``Project`` that returns a report (frozen data with
``to_dict()``): lock, sync, verify/status/env, gc, init/add/remove, diff/audit, bundle/mirror."""
