"""dbt: raw tables to candidate marts (staging, intermediate, marts), and the docs of the project."""
