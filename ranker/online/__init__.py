"""Online metrics: how served homepages fare with the users who saw them (live path)."""
