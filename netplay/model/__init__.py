"""The model: a topology as values (nodes, links, impairments), checked and addressed.

Pure: no host, no files. Imports only netplay.core."""
