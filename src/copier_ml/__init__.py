"""copier-ml: the tools that come with the template, such as the conformance check.

The template itself (``copier.yml``, ``template/``) is read by Copier from the repository;
this package holds what a team installs to keep many generated projects on its standard.
"""
