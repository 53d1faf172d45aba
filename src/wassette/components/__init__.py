"""Installed components: what lives in the component (plugin) directory."""
