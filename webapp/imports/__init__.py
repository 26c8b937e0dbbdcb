"""Importing CSV and .xlsx files into the users, tasks, posts and tags tables.

The rooms, in the order a file goes through them: ``files`` reads it (or refuses it as a whole),
``specs`` says which columns each model takes (the export's), ``fields`` turns a cell into a
stored value, ``planning`` works out what each row would do (the preview; nothing written),
``batches`` keeps that plan in the database for the apply and reports on it, and ``applying``
writes it, set-based and in one transaction, and undoes it. The admin (``webapp.admin.features.
importing``) and the command line (``flask import``) are two callers of the same functions.
"""
