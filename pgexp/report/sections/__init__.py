"""The report's sections: every module here registers its sections with
:func:`pgexp.report.registry.register_section` and is imported by :func:`pgexp.report.registry.load_sections`."""
