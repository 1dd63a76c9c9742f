"""Events: AYON's persistent, observable job and notification records."""
