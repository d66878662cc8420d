"""MovieBot's recommender: MovieLens loading, title matching, the two models.

Everything torch-related lives here and runs inside the action server; the Rasa
process never imports this package.
"""
