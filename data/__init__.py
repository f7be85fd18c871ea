"""foretell.data: dataset generation, on-disk format, validation, loaders and export.

Not built yet: issue "Dataset pipeline" fills this package (see DESIGN.md, data contract).
"""
