"""The central directory: users and apps as the `ldap` Addon's server must hold them (`dit`), how
passwords are kept (`passwords`), who may use which app (`access`), and the sync that converges the
server to it (`sync`). docs/identity.md describes the model."""
