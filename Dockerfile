# The Airflow image of the production stack (docker-compose.yml): the official image
# plus the project's locked Python dependencies. The project's own code (dags/,
# include/, dbt_project/, expectations/) is mounted by docker-compose.yml, not copied,
# so a code change needs a restart, not a rebuild; a change to requirements.lock needs
# `docker compose build`.
#
# The base tag must name the apache-airflow version pinned in requirements.lock
# (tests/unit/test_docker_compose.py checks it).
FROM apache/airflow:3.3.2-python3.11

USER airflow

COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock

# requirements.lock is the full resolution (every transitive package, exact versions):
# install exactly that, and let pip resolve nothing of its own.
RUN pip install --no-cache-dir --no-deps -r /opt/airflow/requirements.lock

# Mount points of the named volumes. Created here so that a new, empty volume takes
# their owner and mode and is writable by the Airflow user (any uid in group 0).
RUN mkdir -p /opt/airflow/landing /opt/airflow/auth /opt/airflow/cache \
 && chmod 0775 /opt/airflow/landing /opt/airflow/auth /opt/airflow/cache
