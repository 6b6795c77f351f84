"""NLU settings (the `nlu:` section of config.yml)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NluSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["builtin", "rasa"] = "builtin"
    data_dir: str = Field("nlu/data", description="Rasa-format training data and lexicons")
    cache_dir: str = Field("var/nlu", description="Where the trained built-in model is cached")
    fallback_threshold: float = Field(0.45, ge=0.0, le=1.0)
    max_chars: int = Field(1000, ge=10, description="Longer input is truncated for classification only")
    builtin_c: float = Field(20.0, gt=0, description="Inverse regularisation of the built-in intent classifier")
    off_domain_factor: float = Field(0.4, ge=0.0, le=1.0, description="Confidence factor for Hajj-service intents "
                                     "when the message has no Hajj word (lexicons/domain_words.txt)")
    off_topic_factor: float = Field(0.3, ge=0.0, le=1.0, description="Probability factor for every intent but "
                                    "out_of_scope when the message names another topic (lexicons/off_topic_words.txt) "
                                    "and has no strong Hajj word")
    builtin_temperature: float = Field(0.8, gt=0, description="Softmax temperature of the built-in classifier")
    faq_boost: float = Field(5.0, ge=0, description="Logit bonus for `faq` per unit of FAQ similarity above 0.4")
    parse_cache_size: int = Field(2048, ge=0, description="Parse results of recent short texts kept for texts "
                                  "that come again (nlu/parse_cache.py); 0 keeps none")
    spelling_correction: bool = Field(True, description="Correct 1-letter typos against the training vocabulary")
    train_in_subprocess: bool = Field(True, description="Train the built-in model in a child process (keeps RSS low)")
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = Field(5.0, gt=0)
    rasa_python: str = "/root/.pyenv/versions/3.10.13/bin/python3.10"
    rasa_venv: str = Field("~/.cache/hajibot/rasa-venv", description="Rasa's own virtualenv, outside the repo")
    rasa_model_dir: str = "var/rasa-models"
    rasa_version: str = Field("3.6.21", description="rasa release installed by `hajibot nlu rasa-setup`")
    rasa_work_dir: str = Field("var/rasa-project", description="Generated Rasa project used for training")
    rasa_start_timeout_seconds: float = Field(300.0, gt=0, description="How long rasa-serve/tests wait for the model to load")
    rasa_entities: Literal["rasa", "hybrid"] = Field(
        "hybrid", description="hybrid: porsi/NIK/phone/ticket/date from the rule extractors, the rest from Rasa")
