"""The Cloud Run gateway: authenticated sync predictions and Firestore-backed async jobs."""
