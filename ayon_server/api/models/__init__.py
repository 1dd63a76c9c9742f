"""The wire shapes of the HTTP API: pydantic models in AYON's camelCase JSON.

Routes declare them as `response_model` (or in `responses=`), so `/openapi.json` describes what
each endpoint sends. Domain packages return typed records; turning those into these shapes is the
API's job.
"""
