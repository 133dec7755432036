"""conf/ as code sees it: composing configs, their resolvers and range checks, and study grids expanded into runs.

Above the record (a grid's runs are named by record.identity), below the training core and the orchestration.
"""
