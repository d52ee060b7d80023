"""MQTT: the live state for wallboards."""
