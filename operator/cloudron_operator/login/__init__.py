"""The login service: the pages users sign in on, and the OpenID provider's login and consent app.

Hydra (the provider) is headless: it sends a browser here with a challenge, and this service decides
who the user is (a bind to the directory checks the password), whether they may use the app behind
the client (its access restriction), and which claims the tokens carry. `python -m cloudron_operator
login` runs it; docs/identity.md describes it.
"""
